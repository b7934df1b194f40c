"""Build the one native extension (the simple-URL kernel); everything else is in pyproject.toml.

``pip install -e .`` compiles it with the machine's C compiler. A failed build is an install
error, not a silent fallback: provscan's import falls back to the (equal, slower) SQL fast path
only when the module is absent, and reports it (``provscan.urls.native.status()``).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("provscan.urls._simple", ["src/provscan/urls/_simple.c"], extra_compile_args=["-O2"])])
