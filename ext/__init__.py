"""Cython kernels (built from ext/*.pyx). They take arrays and bytes, never API objects."""
