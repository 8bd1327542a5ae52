"""Track wing: results where researchers already look (TensorBoard, MLflow, W&B offline).

Two interfaces (tracker.py): a live logger, which training feeds epoch by epoch
(TensorBoard: live_curves), and an exporter, which a rule feeds finished runs
(MLflow: mlflow_export; W&B offline: wandb_offline). record.py is what every
tracker records of a run, so that all of them show the same params.

May import: the shared modules and the plan wing (a run's label, the settings
that take effect). Each tracker's own package is imported only inside the
module that uses it, so a missing tracker never breaks training or planning.
"""
