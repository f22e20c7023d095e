"""Lightning callbacks that run the analyses after fit: one callback per file, no arithmetic here."""
