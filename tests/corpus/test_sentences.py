from hypothesis import given, settings, strategies as st

from corpus import dateline_reading, enumeration_reading, split_sentences, table_header


def sentences(text):
    return [text[s:e] for s, e in split_sentences(text)]


def test_abbreviations_decimals_and_initials_do_not_end_sentences():
    text = ("Dr. Smith moved to the U.S. in 1999 and paid approx. 18.6 dollars, e.g. for tea. "
            "J. R. Tolkien wrote it. Is that so? Yes!")
    assert sentences(text) == [
        "Dr. Smith moved to the U.S. in 1999 and paid approx. 18.6 dollars, e.g. for tea.",
        "J. R. Tolkien wrote it.", "Is that so?", "Yes!"]


def test_quotes_close_the_sentence_they_end():
    text = '"Keep calm," she said. "The hive is quiet." Then she left.'
    assert sentences(text) == ['"Keep calm," she said.', '"The hive is quiet."', "Then she left."]


def test_headings_and_bullets_are_their_own_units():
    text = "# Feeding\nSyrup is sugar and water\n- 1:1 in spring\n- 2:1 in autumn\n\nNext paragraph here."
    assert sentences(text) == ["# Feeding", "Syrup is sugar and water", "- 1:1 in spring",
                               "- 2:1 in autumn", "Next paragraph here."]


def test_wrapped_lines_stay_in_one_sentence():
    text = "A sentence that wraps\nonto the next line. Another one."
    assert sentences(text) == ["A sentence that wraps\nonto the next line.", "Another one."]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list("ab .!?\n\"'#-1A()") + ["Dr.", "U.S.", "e.g.", "\u00a0", "\t", "OSLO", "2024"]),
                max_size=200).map("".join))
def test_spans_are_ordered_trimmed_and_cover_every_non_space_character(text):
    spans = split_sentences(text)
    covered = set()
    last_end = 0
    for s, e in spans:
        assert last_end <= s < e <= len(text)
        assert not text[s].isspace() and not text[e - 1].isspace()
        covered.update(range(s, e))
        last_end = e
    assert {i for i, c in enumerate(text) if not c.isspace()} <= covered


def test_a_table_body_row_knows_its_header_row():
    text = ("Development times:\n\n| Caste | Capped | Emerges |\n|:------|-------:|---------|\n"
            "| Queen | day 8 | day 16 |\n| Drone | day 10 | day 24 |\n\nAfter the table.")
    start, end = table_header(text, text.index("| Drone"))
    assert text[start:end] == "| Caste | Capped | Emerges |"
    assert table_header(text, text.index("| Queen")) == table_header(text, text.index("| Drone"))
    for not_a_body_row in ("| Caste", "|:---", "Development", "After"):
        assert table_header(text, text.index(not_a_body_row)) is None
    assert table_header("| a | b |\n| c | d |\n| e | f |", 20) is None  # no separator row: not a table


def test_a_news_dateline_opening_a_paragraph_is_a_sentence_of_its_own():
    assert sentences("BEIJING (Reuters) - China said on Monday it would act. It did.") == [
        "BEIJING (Reuters) -", "China said on Monday it would act.", "It did."]
    assert sentences("Intro line.\n\nNEW YORK, March 3 (AP) \u2014 Stocks fell.")[1:] == [
        "NEW YORK, March 3 (AP) \u2014", "Stocks fell."]
    assert sentences("date 2023-07-25 OSLO (Nordic Wire / Baltic Press - 2nd March, 2024) The minister spoke.") == [
        "date 2023-07-25 OSLO (Nordic Wire / Baltic Press - 2nd March, 2024)", "The minister spoke."]


def test_brackets_after_a_capitalised_word_are_not_a_dateline():
    for text in ("NATO (North Atlantic Treaty Organization) Summit leaders met.",  # no dash, no date
                 "WHO (World Health Organization, 2020) says masks help.",  # the story goes on in lower case
                 "He said BEIJING (Reuters) - agreed.",  # not at a paragraph's start
                 "The NASA (2019) report was late."):
        assert sentences(text) == [text]


def test_a_dateline_reads_as_who_reported_the_story_from_where():
    assert dateline_reading("BEIJING (Reuters) -") == "This news story was reported from BEIJING by Reuters."
    assert dateline_reading("date 2023-07-25 OSLO (Wire - 2nd March, 2024)") == (
        "This news story was reported from OSLO by Wire - 2nd March, 2024 (date 2023-07-25).")
    assert dateline_reading("BEIJING (Reuters) - China said so.") is None  # a whole sentence is not a dateline
    assert dateline_reading("Reuters reported it.") is None


def test_an_enumerated_point_reads_with_its_place_in_the_list():
    assert enumeration_reading("Fourthly, it is essential.") == "The fourth point: Fourthly, it is essential."
    assert enumeration_reading("Second, add water.") == "The second point: Second, add water."
    assert enumeration_reading("Finally, close the hive.") == "The last point: Finally, close the hive."
    for plain in ("First of all, smoke.", "Firstly smoke.", "The first frame."):
        assert enumeration_reading(plain) is None


def test_legal_enumeration_items_are_sentences_of_their_own():
    text = ("  2. You may modify your copy, provided that you meet these conditions:\n"
            "    a) You must cause the modified files to carry notices\n"
            "    stating that you changed them; and\n"
            "    b) you must license the whole at no charge.\n"
            "    (c) If the program is interactive, it must print a notice.\n"
            "These requirements apply to the modified work.")
    assert sentences(text) == [
        "2. You may modify your copy, provided that you meet these conditions:",  # "2." is a label, not a sentence
        "a) You must cause the modified files to carry notices\n    stating that you changed them; and",
        "b) you must license the whole at no charge.",
        "(c) If the program is interactive, it must print a notice.",
        "These requirements apply to the modified work."]


def test_numbered_headings_and_inline_enumerations_stay_whole():
    assert sentences("3.1.1. Affinity Name Examples\n\niv. The fourth rule applies.") == [
        "3.1.1. Affinity Name Examples", "iv. The fourth rule applies."]
    inline = "The licensee must (a) keep the notices; (b) include the text; and (c) pay nothing."
    assert sentences(inline) == [inline]


def test_an_item_label_in_wrapped_prose_does_not_start_a_sentence():
    text = "The value is stored in the\nkey: field of the record, which\na) callers never see."
    assert sentences(text) == [text]  # neither line above closes a clause


def test_api_reference_fields_read_as_sentences():
    text = ("Parameters:\n    db – the database handle.\n    name – the table name.\n"
            "Returns:\n    the number of rows\n\nArgs:\n    path (str): where the file is.\n"
            "    mode: how to open it.\n\nReturns: the number of rows")
    assert sentences(text) == ["Parameters:", "db – the database handle.", "name – the table name.",
                               "Returns:\n    the number of rows", "Args:", "path (str): where the file is.",
                               "mode: how to open it.", "Returns: the number of rows"]
    pdf_layout = "der: DER data to decode.\nder len: Length of DER data.\nReturns: ASN1_SUCCESS on success."
    assert sentences(pdf_layout) == ["der: DER data to decode.", "der len: Length of DER data.",
                                     "Returns: ASN1_SUCCESS on success."]
