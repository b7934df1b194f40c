"""Build the one native extension (the simple-URL kernel); everything else is in pyproject.toml.

The extension is optional (issue 22): ``pip install`` compiles it with the machine's C compiler
(gcc or clang, and the Python headers) and, where there is none (a slim container image), installs
provscan without it. provscan then runs the SQL fast path, with the same results, and a scan says
so in one line (:func:`provscan.urls.native.fallback_note`).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("provscan.urls._simple", ["src/provscan/urls/_simple.c"], extra_compile_args=["-O2"],
                             optional=True)])
