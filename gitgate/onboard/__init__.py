"""Getting started: the credential helper, the lines an agent sandbox needs, the start-up
advice and the local try-out. None of it is on a push's path; it makes the first one work."""
