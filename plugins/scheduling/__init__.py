"""Built-in scheduling plugins, one module each (Kubernetes' default plugin set).

Each module registers its plugin class through ``orchestra_scheduler_plugins``; profiles
enable plugins by ``NAME`` (see :mod:`orchestra.scheduler.profiles`).
"""
