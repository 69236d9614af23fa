"""``painterly batch``: many contents x styles as one resumable job, locally or on a Ray cluster.

plan (inputs -> job specs) and manifest (per-job settings) feed runner (states, results.json,
overview, resume), which drives one of the executors in local (in this process, or one process per
GPU) or ray_cluster; progress shows it. Every job goes through ``jobs.Job``.
"""
