"""Store backends, one module per URL scheme."""
