"""Probers: plugins that predict the 19 PercePiano labels from embeddings, fold by fold."""
