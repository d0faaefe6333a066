"""Storage access shared by every stage: the lake (local folder or ADLS Gen2)."""
