"""Supervision (财政局监管): risk flags, queries (问询), enforcement, archives, statistics,
public disclosure (信息公开), OCDS open data and procurement loans (政采贷).

- ``models.py``   Query, EnforcementAction, PartnerBank, LoanApplication (RiskFlag lives in
  ``orders.models`` because checkout raises it too).
- ``flags.py``    the risk rules as pure functions over plain facts.
- ``services.py`` every write: the nightly scan, clearing flags, queries, suspensions and
  take-downs, partner banks and loans; each checks ``mall.authz.require`` and is audited.
- ``archive.py``  an order's timeline and the zip archive package (HTML + JSON).
- ``stats.py``    figures by zone, 品目, unit, supplier and month; the 特色馆 share.
- ``ocds.py``     the OCDS 1.1.5 release package.
- ``views.py`` (blueprint ``supervision``), ``public_views.py`` (blueprint ``public``),
  ``api.py`` (``/api/v1``), ``tasks.py`` (Celery ``supervision.scan_risks``), ``cli.py``.
"""
