"""Builds the optional Cython kernels; without Cython or a compiler the pure-numpy twin is used."""

from setuptools import setup

setup()
