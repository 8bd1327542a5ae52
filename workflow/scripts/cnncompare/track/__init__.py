"""Track wing: results where researchers already look (TensorBoard, MLflow, ...).

May import: the shared modules and the plan wing's settings. Each tracker's own
package is imported only inside the module that uses it, so a missing tracker
never breaks training or planning.
"""
