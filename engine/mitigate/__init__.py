"""Making a mailing safe: its inference risk, decoys, content cover, suppression, generalization, the optimizer and verification."""
