"""Operations commands: the database's schema revision (`oneflow db`) and the production check."""
