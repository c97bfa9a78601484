"""Cython kernels (built from ext/*.pyx). They take arrays, bytes and codec tables, never API kinds."""
