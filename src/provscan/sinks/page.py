"""The fixed parts of report.html: its stylesheet, its sorting script and its Content-Security-Policy.

Kept apart from the renderer because they are constants: the CSP forbids every request (the page may
only use its own inline style and script, and data: images), the CSS is print-friendly and uses
system fonts, and the script (a few dozen lines, no framework) sorts the shard table, filters the
findings table as you type (words anywhere in a row, and a list and an action to match) and marks the
page ``data-ready`` so a test can tell it ran.
"""

from __future__ import annotations

SHARD_PAGE = 50  # shard rows shown before the rest is folded into <details>
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b;margin:0;background:#f6f7f9}
main{max-width:1120px;margin:0 auto;padding:24px 28px 60px;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;border-bottom:2px solid #dde1e6;padding-bottom:4px;margin-top:34px}
h3{font-size:15px;margin:20px 0 6px}.meta{color:#555;margin:0 0 14px}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #dde1e6;border-radius:6px;padding:10px 14px;min-width:120px}
.card .v{display:block;font-size:22px;font-weight:600}.card .l{color:#555;font-size:12px}
.card.drop .v{color:#b03a2e}.card.flag .v{color:#b9770e}.card.keep .v{color:#1e8449}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}th,td{padding:3px 8px;border-bottom:1px solid #e6e8eb;text-align:left}
td.r,th.r{text-align:right;font-variant-numeric:tabular-nums}th{background:#f0f2f5}
th button{font:inherit;font-weight:600;border:0;background:none;cursor:pointer;padding:0}
th[aria-sort=ascending] button::after{content:" \\25B2"}th[aria-sort=descending] button::after{content:" \\25BC"}
code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:#f6f7f9;border:1px solid #e6e8eb;padding:10px;overflow:auto;max-height:420px}
td.h code{display:inline-block;max-width:11ch;overflow:hidden;text-overflow:ellipsis;vertical-align:bottom;white-space:nowrap}
td.p{max-width:330px;overflow-wrap:anywhere}
.chart{display:block;margin:4px 0 12px}.chart .axis{fill:#444;font-style:italic}.chart .n{fill:#222}
.note{color:#555;font-size:13px}.cmd{background:#1f2933;color:#f5f7fa;padding:8px 12px;border-radius:4px;display:inline-block}
details summary{cursor:pointer;color:#2e6da4;margin:6px 0}
.filters{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin:6px 0}.filters input{min-width:260px;padding:3px 6px}
.scroll{max-height:520px;overflow:auto;border:1px solid #e6e8eb}.scroll table{margin:0;width:100%}
@media print{body{background:#fff}details{display:block}pre,.scroll{max-height:none}.filters{display:none}}
"""

_JS = """
(function(){
var PAGE=%d,t=document.getElementById('shard-table');
if(t){var rest=document.getElementById('shard-table-rest');
function sort(c,dir){var a=t.tBodies[0],b=rest?rest.tBodies[0]:null;
var rows=[].slice.call(a.rows).concat(b?[].slice.call(b.rows):[]);
function key(r){var s=r.cells[c].textContent.replace(/,/g,'');return s!==''&&!isNaN(s)?+s:s;}
rows.sort(function(x,y){var p=key(x),q=key(y);return (p<q?-1:p>q?1:0)*dir||x.dataset.i-y.dataset.i;});
rows.forEach(function(r,i){(i<PAGE||!b?a:b).appendChild(r);});
[].forEach.call(t.tHead.rows[0].cells,function(h,i){if(i===c)h.setAttribute('aria-sort',dir>0?'ascending':'descending');else h.removeAttribute('aria-sort');});}
[].forEach.call(t.tHead.querySelectorAll('button'),function(btn){btn.addEventListener('click',function(){
var th=btn.parentNode;sort(th.cellIndex,th.getAttribute('aria-sort')==='descending'?1:-1);});});
var m=/^#sort-(\\d+)(-asc)?$/.exec(location.hash);if(m)sort(+m[1],m[2]?1:-1);}
var q=document.getElementById('findings-search'),ft=document.getElementById('findings-table');
if(q&&ft){var fl=document.getElementById('findings-list'),fa=document.getElementById('findings-action'),
fc=document.getElementById('findings-count'),fr=[].slice.call(ft.tBodies[0].rows),
texts=fr.map(function(r){return r.textContent.toLowerCase();});
function filter(){var words=q.value.toLowerCase().split(/\\s+/).filter(Boolean),n=0;
fr.forEach(function(r,i){var ok=(!fl.value||r.dataset.list===fl.value)&&(!fa.value||r.dataset.act===fa.value)
&&words.every(function(w){return texts[i].indexOf(w)>=0;});r.hidden=!ok;if(ok)n++;});
fc.textContent=n.toLocaleString('en-US')+' of '+fr.length.toLocaleString('en-US')+' shown';fc.setAttribute('data-shown',n);}
[q,fl,fa].forEach(function(el){el.addEventListener('input',filter);el.addEventListener('change',filter);});}
document.documentElement.setAttribute('data-ready','1');
})();
"""

SCRIPT = _JS % SHARD_PAGE
