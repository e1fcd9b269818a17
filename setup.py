"""Builds the optional Cython kernels; without Cython or a compiler the pure-numpy twin is used.

Set TENSORDIFF_NO_BUILD=1 to skip the extension on purpose.
"""

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """A failed compile is a warning, not a failed install: tensordiff.kernels falls back to numpy."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any toolchain failure means "use the fallback"
            self._skip(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self._skip(exc)

    @staticmethod
    def _skip(exc):
        sys.stderr.write(f"tensordiff: not building the Cython kernels ({exc}); the numpy fallback will be used\n")


def extensions():
    if os.environ.get("TENSORDIFF_NO_BUILD"):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        sys.stderr.write("tensordiff: Cython is not installed; the numpy fallback kernels will be used\n")
        return []
    from setuptools import Extension
    kernel = Extension("tensordiff._kernels", ["tensordiff/_kernels.pyx"], extra_compile_args=["-O3"]
                       if sys.platform != "win32" else [])
    return cythonize([kernel], quiet=True)


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
