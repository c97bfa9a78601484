# C-level declarations shared by the scheduling kernel (ext/sched.pyx).
#
# sched.pyx textually includes this file: setup.py builds the module as
# ``orchestra._ext.sched`` from ``ext/``, a path Cython's automatic .pxd lookup does
# not map (the same arrangement as kvstore.pxd).

from libc.stdint cimport int64_t, int32_t, uint8_t
from libcpp.vector cimport vector

cdef enum:
    NRES = 4          # cpu (millicores), memory (bytes), ephemeral-storage (bytes), pods

# One placed pod as preemption's dry run sees it: an id the snapshot maps back to the pod,
# its priority, its start (microseconds since the epoch) and its cpu/memory/ephemeral requests.
cdef struct PodRec:
    int32_t id
    int64_t priority
    int64_t start
    int64_t req[3]
