"""Container runtimes, one module per runtime name: ``process``, ``simulated``, ``oci``."""
