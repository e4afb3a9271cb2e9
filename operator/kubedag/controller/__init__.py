"""The operator's I/O shell: turns what the watches saw into planner input, and the
planner's output into API requests. No DAG rules here (see kubedag.engine)."""
