"""Train wing: the torch jobs (train_model, evaluate_model) and what they use.

May import: anything torch-side, the plan wing (settings, arch facts), the data
wing (reading prepared arrays), the shared modules and the track wing's live
loggers. Nothing here is imported by the plan or the report.
"""
