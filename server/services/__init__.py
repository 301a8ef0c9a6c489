"""Domain services: the rules of Strongroom, free of HTTP; they raise domain errors."""
