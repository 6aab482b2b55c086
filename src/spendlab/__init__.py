"""SpendLab: decide where each marketing dollar goes across thousands of campaigns, and prove it.

Every capability is reachable from Python first; the CLI, REST API and dashboard call the same
functions. Start with :class:`spendlab.data.warehouse.Warehouse` and
:func:`spendlab.data.ingest.ingest_file`.
"""

__version__ = "0.1.0"
