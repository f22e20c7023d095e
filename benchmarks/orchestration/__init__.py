"""Orchestration of a run: scheduling fits fold by fold, persisting and resuming them, firing the post-fit callbacks."""
