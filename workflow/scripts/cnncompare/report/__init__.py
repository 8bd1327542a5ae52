"""Report wing: summary.csv and history.csv (aggregate), then the HTML report.

The page's parts (tables, figures, findings, paper_table, sweep_report) read
one Study (study.py: the runs grouped over seeds, with their statistics) and
write every number through numbers.py; the columns they show are those of
cnncompare/columns.py, and the protocols those of cnncompare/protocols.py.

May import: the shared modules, the plan wing's torch-free facts, numpy, scipy,
pandas and jinja2. Never torch: the report job runs in the light environment.
"""
