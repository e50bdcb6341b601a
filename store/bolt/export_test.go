package bolt

// Trim runs one pass of the resident-memory trimmer.
func (s *Store) Trim() { s.trim() }
