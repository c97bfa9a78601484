# C-level declarations shared by the scheduling kernel (ext/sched.pyx).
#
# sched.pyx textually includes this file: setup.py builds the module as
# ``orchestra._ext.sched`` from ``ext/``, a path Cython's automatic .pxd lookup does
# not map (the same arrangement as kvstore.pxd).

from libc.stdint cimport int64_t, int32_t, uint8_t
from libcpp.vector cimport vector

cdef enum:
    NRES = 4          # cpu (millicores), memory (bytes), ephemeral-storage (bytes), pods
