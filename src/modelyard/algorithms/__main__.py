"""`python -m modelyard.algorithms > docs/algorithms.md`: the built-in catalog as a document."""

from modelyard.algorithms.catalog import builtin_markdown

print(builtin_markdown(), end="")
