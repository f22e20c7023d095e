"""Data contract, embedding store and Lightning DataModules of percepiano-bench."""
