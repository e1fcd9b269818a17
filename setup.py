"""Builds the optional Cython kernels; without Cython or a compiler the pure-numpy twin is used.

Set TENSORDIFF_NO_BUILD=1 to skip the extension on purpose, and TENSORDIFF_REQUIRE_KERNELS=1 to
make a failed compile fail the build (the release wheels do: a wheel without its kernel is slower).
The extension is built without debug information (-g0, stripped at link time): a wheel carries the
compiled module only, not its generated C source (see MANIFEST.in and pyproject.toml).
"""

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

REQUIRED = os.environ.get("TENSORDIFF_REQUIRE_KERNELS", "0") not in ("", "0")


class OptionalBuildExt(build_ext):
    """A failed compile is a warning, not a failed install: tensordiff.kernels falls back to numpy."""

    def run(self):
        try:
            super().run()
        except Exception as exc:
            self._skip(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._skip(exc)

    @staticmethod
    def _skip(exc):
        if REQUIRED:
            raise exc
        sys.stderr.write(f"tensordiff: not building the Cython kernels ({exc}); the numpy fallback will be used\n")


def compile_and_link_flags():
    """Optimised, without debug information: Python's own CFLAGS often carry -g, which -g0 overrides."""
    if sys.platform == "win32":
        return ["/O2"], []
    # never fuse a multiply and an add (arm64 compilers do by default): the kernels round as their numpy twin
    if sys.platform == "darwin":
        return ["-O3", "-g0", "-ffp-contract=off"], ["-Wl,-S,-x"]
    return ["-O3", "-g0", "-ffp-contract=off"], ["-Wl,--strip-all"]


def extensions():
    if os.environ.get("TENSORDIFF_NO_BUILD", "0") not in ("", "0"):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        if REQUIRED:
            raise
        sys.stderr.write("tensordiff: Cython is not installed; the numpy fallback kernels will be used\n")
        return []
    from setuptools import Extension
    compile_args, link_args = compile_and_link_flags()
    # _kernels.pyx includes the .pxi files (one module, split for size) and the row loops of _kernelrows.h
    depends = ["tensordiff/_kernelrows.h", "tensordiff/_kernelfunctions.h", "tensordiff/_kernelrun.pxi",
               "tensordiff/_kernelbound.pxi", "tensordiff/_kernelchecks.pxi", "tensordiff/_kernelfunctions.pxi",
               "tensordiff/_kernelparse.pxi"]
    kernel = Extension("tensordiff._kernels", ["tensordiff/_kernels.pyx"], include_dirs=["tensordiff"], depends=depends,
                       extra_compile_args=compile_args,
                       extra_link_args=link_args)
    return cythonize([kernel], quiet=True)


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
