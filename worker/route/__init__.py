"""From prediction to action: the taxonomy, decisions, reply history and reply rendering."""
