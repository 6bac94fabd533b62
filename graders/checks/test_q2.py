def test_placeholder(student):
    pass
