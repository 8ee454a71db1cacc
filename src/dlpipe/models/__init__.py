"""Model building blocks shared by the families: preprocessing, layer blocks, assembly."""
