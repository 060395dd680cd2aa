"""Pure data and rules: connector definitions, sub-action params, events. No I/O."""
