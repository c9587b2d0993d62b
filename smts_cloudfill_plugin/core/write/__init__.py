"""Writing outputs whole or not at all, on the inputs' grid."""
