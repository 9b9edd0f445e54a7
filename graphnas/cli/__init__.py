"""The ``graphnas`` command line (on top of the jobs and every folder below).

* :mod:`.main` -- the parser, ``run``/``train``/``search`` (flags from :class:`graphnas.jobs.JobConfig`), and
  ``spaces``, ``sample``, ``cost``, ``render``;
* :mod:`.latency` -- ``graphnas latency build|validate|predict``;
* :mod:`.lookup` -- ``graphnas lookup``;
* :mod:`.inputs` -- architecture files as the commands read them.
"""

from .main import UsageError, build_parser, main

__all__ = ["main", "build_parser", "UsageError"]
