"""livestore."""
