"""Student models handed in as files: refused unless safe, then judged in a trusted process."""
