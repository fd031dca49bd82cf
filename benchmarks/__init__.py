"""Performance harness: every benchmark reports medians against ceilings measured in the same run."""
