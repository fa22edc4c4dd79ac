"""The sealed worker that runs researcher code, and the policy on what may leave the site.

- ``wire``: values <-> bytes (JSON + ``.npy``, never pickle), strictly bounded on decode.
- ``worker``: the zygote that runs *inside* bubblewrap and forks one child per call.
- ``bwrap`` / ``cgroups`` / ``runner``: start and talk to that zygote from the site.
- ``policy`` / ``copycheck`` / ``arguments`` / ``release``: what may go in and what may come out
  (``release``: the one check an output passes before it leaves, for calls and dry runs).

This package never imports syft, and ``worker`` / ``wire`` import only the standard library
and numpy, so they load inside the sandbox without the rest of the platform. Keep this
``__init__`` free of imports for the same reason.
"""
