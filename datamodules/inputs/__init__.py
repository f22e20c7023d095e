"""Parsers of the input files, each validated with errors naming the file, line or key: labels, folds, raw ratings,
masterclass moments, competition recordings, a user's quality predictions."""
