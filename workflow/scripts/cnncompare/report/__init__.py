"""Report wing: summary.csv and history.csv (aggregate), then the HTML report.

May import: the shared modules, the plan wing's torch-free facts, numpy, scipy,
pandas and jinja2. Never torch: the report job runs in the light environment.
"""
