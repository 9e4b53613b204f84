"""One construct per concern; each reads names and numbers from the catalog or its props."""
