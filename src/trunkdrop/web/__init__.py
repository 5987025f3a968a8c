"""Pages for people: the API's docs served locally, sign-in, and one page per party."""
