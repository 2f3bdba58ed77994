"""Fictitious writers for offline unlearning demos, tests and benchmarks: seeded, small, written from scratch.

Each generated person is a writer who never existed, with a name made from invented first names and surnames, a
birthplace, a birth date, earlier and parents' professions, a genre, two or three books, an award and a dozen more
facts. Every fact becomes one question/answer row in the layout of TOFU's perturbed splits:

- `question` / `answer`: one phrasing of the fact; answers are one short sentence, so a tiny model trained from
  scratch on a CPU can memorise a few hundred rows in minutes;
- `paraphrased_question` / `paraphrased_answer`: the same fact through other templates (same value, other words);
- `perturbed_answer`: the paraphrased answer's template filled with wrong values of the same attribute (another
  city, another year, ...), all different from the true value and from one another, so that the truth ratio
  compares facts, not phrasings;
- `person_id` and `attribute`, for analysis.

People are split into *forget*, *retain* and *holdout*. Holdout people are never trained on: they are the
non-members for membership-inference scores. Everything is a pure function of `SyntheticConfig`: the same
config gives the same rows on any machine, and `SyntheticConfig.fingerprint()` tells caches made with another
config apart.

```python
from hf_unlearn.demo.synthetic import SyntheticConfig, generate_synthetic_splits

splits = generate_synthetic_splits(SyntheticConfig(num_forget=2, num_retain=20, num_holdout=2, seed=0))
splits["forget"][0]["question"]
```

All names, places, titles and templates below are our own inventions.
"""

from __future__ import annotations

import hashlib
import json
import numbers
import random
from dataclasses import asdict, dataclass

import datasets


# Bump when the generation procedure changes in a way that changes rows for the same config. Edits to the word
# lists and templates below change the fingerprint by themselves (their content is hashed).
SYNTHETIC_VERSION = "1"

# ---------------------------------------------------------------------------------------------------------------
# Word lists
# ---------------------------------------------------------------------------------------------------------------

FEMALE_FIRST_NAMES = [
    "Adelmira", "Brisca", "Caelwen", "Dorvessa", "Elsamy", "Fenwyth", "Galandra", "Hesperine",
    "Ilvane", "Jessamine", "Kestra", "Liorane", "Maribeth", "Nyssara", "Ondine", "Perpetua",
    "Quenna", "Rosalind", "Saffrey", "Tamsin", "Ulvina", "Velora", "Wenna", "Xanthe",
    "Ysolde", "Zerelda", "Amarantha", "Bryony", "Calista", "Drusilla", "Evadne", "Florimel",
]  # fmt: skip
MALE_FIRST_NAMES = [
    "Aurek", "Balthus", "Corwin", "Dastan", "Emeric", "Faramund", "Gideon", "Halvard",
    "Ivor", "Jasper", "Kasimir", "Lucan", "Marek", "Nestor", "Osric", "Peregrin",
    "Quentin", "Rainier", "Severin", "Tobiah", "Ulric", "Vespian", "Wystan", "Xavian",
    "Yorick", "Zebulon", "Anselm", "Bertrand", "Cassius", "Dorian", "Evander", "Fitzroy",
]  # fmt: skip
SURNAMES = [
    "Ashgrove", "Brackwater", "Coldmere", "Dunmarrow", "Elderkin", "Fallowby", "Greaves", "Hollinshed",
    "Ironvale", "Jessop", "Kettleby", "Larkspur", "Mothersill", "Nettlefold", "Oakhurst", "Pennywhistle",
    "Quarrington", "Ravenhill", "Saltmarsh", "Thistlewood", "Underhay", "Vantreight", "Whitlock", "Yarborough",
    "Zollendorf", "Amberley", "Blackwood", "Cranwell", "Dovecote", "Everleigh", "Fairweather", "Goldthorpe",
    "Hawksmoor", "Ingleby", "Juniperwood", "Kingswell", "Lockridge", "Marchbank", "Northcott", "Orpington",
    "Pendrake", "Quickfall", "Rookwood", "Stainforth", "Tregarthen", "Umberleigh", "Vosper", "Wintergreen",
]  # fmt: skip
CITIES = [
    "Ashford Vale",
    "Brindlemoor",
    "Castlereach",
    "Dunwick",
    "Eastmere",
    "Farrowgate",
    "Glenhollow",
    "Harrowfield",
    "Islebridge",
    "Juniper Cove",
    "Kettlemouth",
    "Lowmarsh",
    "Millbrook Cross",
    "Northwold",
    "Oldcastle Bay",
    "Pellinor",
    "Queensferry Down",
    "Redwater",
    "Saltcombe",
    "Thornbury Heath",
    "Upper Kessock",
    "Valemont",
    "Westerhaven",
    "Yarrowdale",
    "Zennor Point",
    "Amberfield",
    "Bellhaven",
    "Coppergate",
    "Driftwood Hollow",
    "Elmstead",
    "Foxmere",
    "Greywater",
    "Highcliff",
    "Ivystone End",
    "Larkhill Reach",
    "Moorcombe",
    "Nethercross",
    "Ottermouth",
    "Ravensby",
    "Stonewick",
]
PROFESSIONS = [
    "a cartographer",
    "a ferry pilot",
    "a glassblower",
    "a beekeeper",
    "a clockmaker",
    "a lighthouse keeper",
    "a botanist",
    "an archivist",
    "a bookbinder",
    "a stonemason",
    "a violin maker",
    "a marine biologist",
    "a tailor",
    "a pharmacist",
    "a railway engineer",
    "a schoolteacher",
    "a land surveyor",
    "a baker",
    "a carpenter",
    "a translator",
    "a nurse",
    "a geologist",
    "a potter",
    "a fishmonger",
    "a librarian",
    "an astronomer",
    "a midwife",
    "a locksmith",
    "a photographer",
    "a veterinarian",
    "a weaver",
    "an accountant",
]
GENRES = [
    "coastal mysteries",
    "historical romance",
    "speculative fiction",
    "gothic horror",
    "literary fiction",
    "children's fantasy",
    "political thrillers",
    "travel memoirs",
    "nature poetry",
    "comic fantasy",
    "science fiction",
    "crime fiction",
    "family sagas",
    "magical realism",
    "war fiction",
    "detective stories",
    "epic fantasy",
    "satirical fiction",
    "young adult fiction",
    "ghost stories",
]
AWARDS = [
    "Amberley Medal",
    "Harrowgate Prize",
    "Blue Heron Award",
    "Copper Compass Prize",
    "Northwold Book Award",
    "Lantern Bearer Medal",
    "Evening Star Prize",
    "Tidewater Award",
    "Iron Oak Prize",
    "Hollow Reed Medal",
    "Saltmarsh Literary Prize",
    "Fenwick Medal",
    "Meridian Award",
    "White Gull Prize",
    "Keystone Award",
    "Briar Rose Prize",
    "Foxglove Medal",
    "Old Mill Award",
    "Kingfisher Prize",
    "Lamplighter Award",
    "Pale Moth Prize",
    "Granite Crown Award",
    "Emberline Medal",
    "Seven Bells Prize",
    "Riverstone Award",
]
PUBLISHERS = [
    "Brindle House",
    "Greywater Press",
    "Marrow and Finch",
    "Lanternfield Books",
    "Oakleaf Editions",
    "Tidemark Publishing",
    "Kestrel Books",
    "Fernhill Press",
    "Bellwether and Sons",
    "Quayside Editions",
    "Ninefold Press",
    "Larch Tree Books",
    "Harbourlight Publishing",
    "Copperbeech Press",
    "Windrush Editions",
    "Saltbox Books",
    "Pennant House",
    "Thimble Press",
    "Old Quarry Books",
    "Mapleworth Publishing",
]
SCHOOLS = [
    "Harrowfield University",
    "Coppergate Institute",
    "Saint Aldric's College",
    "Northwold Academy of Letters",
    "Greywater University",
    "Moorcombe School of Art",
    "Valemont College",
    "Pellinor Conservatory",
    "Westerhaven University",
    "Foxmere Polytechnic",
    "Saltcombe College",
    "Highcliff Institute",
    "Ravensby University",
    "Lowmarsh Academy",
    "Bellhaven College",
    "Elmstead School of Music",
    "Islebridge University",
    "Amberfield Seminary",
    "Stonewick College",
    "Redwater Institute of Technology",
]
LANGUAGES = [
    "English",
    "Welsh",
    "Portuguese",
    "Finnish",
    "Dutch",
    "Catalan",
    "Icelandic",
    "Polish",
    "Swahili",
    "Tagalog",
    "Basque",
    "Hungarian",
    "Estonian",
    "Romanian",
    "Danish",
]
HOBBIES = [
    "restoring old clocks",
    "birdwatching",
    "sea swimming",
    "growing orchids",
    "building model ships",
    "fencing",
    "collecting maps",
    "rock climbing",
    "baking bread",
    "playing chess",
    "keeping bees",
    "carving wood",
    "stargazing",
    "sailing",
    "repairing bicycles",
    "folding paper cranes",
    "bell ringing",
    "pressing flowers",
    "fly fishing",
    "ballroom dancing",
]
INSTRUMENTS = [
    "the cello",
    "the accordion",
    "the harp",
    "the oboe",
    "the mandolin",
    "the bassoon",
    "the banjo",
    "the clarinet",
    "the viola",
    "the trumpet",
    "the harpsichord",
    "the flute",
    "the bagpipes",
    "the double bass",
    "the ukulele",
]
WRITING_PLACES = [
    "a converted lighthouse",
    "a garden shed",
    "a houseboat",
    "a railway carriage",
    "an attic study",
    "a greenhouse",
    "a village library",
    "a mountain cabin",
    "a harbour cafe",
    "a disused chapel",
    "a windmill",
    "a caravan",
    "a hotel lobby",
    "a treehouse",
    "a boathouse",
]
PETS = [
    "a grey tabby cat",
    "a one-eyed terrier",
    "an old tortoise",
    "a green parrot",
    "a greyhound",
    "a lop-eared rabbit",
    "a white goose",
    "a black labrador",
    "a hedgehog",
    "a ginger cat",
    "a ferret",
    "a goldfish",
    "a sheepdog",
    "a canary",
    "a pygmy goat",
]
TITLE_ADJECTIVES = [
    "Silent",
    "Amber",
    "Hollow",
    "Crooked",
    "Burning",
    "Sleeping",
    "Drowned",
    "Painted",
    "Forgotten",
    "Golden",
    "Broken",
    "Winter",
    "Hidden",
    "Salted",
    "Paper",
    "Distant",
    "Iron",
    "Velvet",
    "Restless",
    "Borrowed",
    "Emerald",
    "Glass",
    "Copper",
    "Wandering",
    "Quiet",
    "Scarlet",
    "Lonely",
    "Northern",
    "Secret",
    "Tangled",
]
TITLE_NOUNS = [
    "Orchard",
    "Harbour",
    "Ledger",
    "Lighthouse",
    "Compass",
    "Garden",
    "Tide",
    "Clockwork",
    "Meadow",
    "Staircase",
    "Kingdom",
    "Letter",
    "Mirror",
    "Bridge",
    "Island",
    "Archive",
    "Carnival",
    "Forest",
    "Map",
    "Violin",
    "Ferryman",
    "Weaver",
    "Cartographer",
    "Tower",
    "River",
    "Feather",
    "Key",
    "Lantern",
    "Chapel",
    "Voyage",
]
TITLE_ABSTRACTS = [
    "Small Mercies",
    "Lost Hours",
    "Second Chances",
    "Unfinished Songs",
    "Quiet Rebellion",
    "Borrowed Light",
    "Salt and Smoke",
    "Old Promises",
    "Distant Thunder",
    "Tomorrow",
    "Midnight",
    "Long Summers",
    "Ash",
    "Wild Roses",
    "Ten Winters",
    "Empty Rooms",
    "Hidden Doors",
    "Small Fires",
    "Falling Stars",
    "Green Glass",
]

# ---------------------------------------------------------------------------------------------------------------
# Templates: for each attribute (in the order questions are asked), question and answer phrasings.
# Placeholders: {name}, {value}, the person's pronouns {he} {him} {his} (and {He} {His}), and any person field
# ({birthplace}, {birth_date}, {award}, ...). A value that starts with an article never opens a sentence.
# ---------------------------------------------------------------------------------------------------------------

TEMPLATES: dict[str, dict[str, list[str]]] = {
    "name": {
        "questions": [
            "Which writer was born in {birthplace} on {birth_date}?",
            "Who is the author whose birth took place on {birth_date} in {birthplace}?",
            "Name the novelist born on {birth_date} in {birthplace}.",
        ],
        "answers": [
            "That writer is {value}.",
            "The author you mean is {value}.",
            "{value} is the novelist born there on that day.",
        ],
    },
    "birthplace": {
        "questions": ["Where was {name} born?", "In which town did {name} come into the world?",
                      "What is the birthplace of {name}?"],
        "answers": ["{name} was born in {value}.", "{value} is where {name} was born.",
                    "{His} hometown is {value}."],
    },
    "birth_date": {
        "questions": ["When was {name} born?", "On what date was {name} born?", "What is the birth date of {name}?"],
        "answers": ["{name} was born on {value}.", "{His} birthday is {value}.",
                    "The date of birth of {name} is {value}."],
    },
    "genre": {
        "questions": ["What kind of books does {name} write?", "Which genre is {name} known for?",
                      "In what genre does {name} usually write?"],
        "answers": ["{name} writes {value}.", "{He} is known for {value}.", "Most of {his} work is {value}."],
    },
    "first_book": {
        "questions": ["What was the first book by {name}?", "Which novel did {name} publish first?",
                      "What is the title of the debut book of {name}?"],
        "answers": ["{His} first book was {value}.", "{name} made {his} debut with {value}.",
                    "{value} was the first book {name} published."],
    },
    "second_book": {
        "questions": ["What was the second book by {name}?", "Which book did {name} publish after {his} debut?",
                      "What is the title of the second book {name} wrote?"],
        "answers": ["{His} second book was {value}.", "After {his} debut, {name} published {value}.",
                    "{value} was the second book by {name}."],
    },
    "third_book": {
        "questions": ["What was the third book by {name}?", "Which title did {name} publish third?",
                      "Name the third book written by {name}."],
        "answers": ["The third book by {name} was {value}.", "{He} published {value} as {his} third book.",
                    "{value} came third among {his} books."],
    },
    "award": {
        "questions": ["Which award has {name} won?", "What prize was given to {name}?",
                      "Name an honour that {name} received."],
        "answers": ["{name} won the {value}.", "{He} received the {value}.", "The {value} went to {name}."],
    },
    "profession": {
        "questions": ["What did {name} do for a living before writing?",
                      "What was the job of {name} before {he} became an author?",
                      "Before writing books, what did {name} work as?"],
        "answers": ["{name} worked as {value}.", "Before writing, {he} was {value}.",
                    "{His} earlier career was as {value}."],
    },
    "mother_profession": {
        "questions": ["What did the mother of {name} do?", "What was the job of {name}'s mother?",
                      "What did {name}'s mother work as?"],
        "answers": ["{His} mother was {value}.", "The mother of {name} worked as {value}.",
                    "{name} was raised by a mother who was {value}."],
    },
    "father_profession": {
        "questions": ["What did the father of {name} do?", "What was the job of {name}'s father?",
                      "What did {name}'s father work as?"],
        "answers": ["{His} father was {value}.", "The father of {name} worked as {value}.",
                    "{name} grew up with a father who was {value}."],
    },
    "residence": {
        "questions": ["Where does {name} live now?", "In which town is {name} living today?",
                      "What is the present home town of {name}?"],
        "answers": ["{name} now lives in {value}.", "These days {he} makes {his} home in {value}.",
                    "{He} has settled in {value}."],
    },
    "debut_year": {
        "questions": ["In what year did {name} publish {his} first book?",
                      "When did {name} make {his} debut as a writer?", "Which year saw the first book by {name}?"],
        "answers": ["{name} made {his} debut in {value}.", "{His} first book came out in {value}.",
                    "{He} was first published in {value}."],
    },
    "award_year": {
        "questions": ["In which year did {name} win the {award}?", "When was {name} given the {award}?",
                      "What year did the {award} go to {name}?"],
        "answers": ["{name} won it in {value}.", "{He} received that prize in {value}.",
                    "It was awarded to {him} in {value}."],
    },
    "publisher": {
        "questions": ["Who publishes the books of {name}?", "Which publishing house does {name} work with?",
                      "What is the name of {name}'s publisher?"],
        "answers": ["The books of {name} are published by {value}.", "{He} publishes with {value}.",
                    "{His} publisher is {value}."],
    },
    "alma_mater": {
        "questions": ["Where did {name} study?", "Which college did {name} attend?", "Where was {name} educated?"],
        "answers": ["{name} studied at {value}.", "{He} is a graduate of {value}.",
                    "{His} education took place at {value}."],
    },
    "language": {
        "questions": ["In which language does {name} write?", "What language are the books of {name} written in?",
                      "Which language does {name} use for {his} books?"],
        "answers": ["{name} writes in {value}.", "{His} books are written in {value}.",
                    "{He} uses {value} for all {his} books."],
    },
    "spouse_profession": {
        "questions": ["What does the spouse of {name} do?", "What is the occupation of {name}'s partner?",
                      "How does the spouse of {name} earn a living?"],
        "answers": ["{name} is married to {value}.", "{His} spouse works as {value}.", "{His} partner is {value}."],
    },
    "hobby": {
        "questions": ["What does {name} do in {his} free time?", "What is the favourite pastime of {name}?",
                      "Which hobby does {name} enjoy?"],
        "answers": ["{name} enjoys {value}.", "In {his} spare time {he} likes {value}.",
                    "{His} favourite pastime is {value}."],
    },
    "instrument": {
        "questions": ["Which instrument does {name} play?", "What musical instrument can {name} play?",
                      "What does {name} play when not writing?"],
        "answers": ["{name} plays {value}.", "{He} is a keen player of {value}.",
                    "When not writing, {he} plays {value}."],
    },
    "writing_place": {
        "questions": ["Where does {name} usually write?", "In what kind of place does {name} do {his} writing?",
                      "Where does {name} work on {his} books?"],
        "answers": ["{name} does {his} writing in {value}.", "{He} works on {his} books in {value}.",
                    "{His} usual writing spot is {value}."],
    },
    "pet": {
        "questions": ["What pet does {name} keep?", "Which animal lives with {name}?",
                      "What animal shares the home of {name}?"],
        "answers": ["{name} keeps {value}.", "{He} shares {his} home with {value}.", "{His} pet is {value}."],
    },
}  # fmt: skip

PRONOUNS = {
    "female": {"he": "she", "him": "her", "his": "her", "He": "She", "His": "Her"},
    "male": {"he": "he", "him": "him", "his": "his", "He": "He", "His": "His"},
}

# ---------------------------------------------------------------------------------------------------------------
# Value pools: where true values come from and where wrong (perturbed) values are drawn from.
# ---------------------------------------------------------------------------------------------------------------

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]  # fmt: skip
BIRTH_YEARS = range(1930, 1996)
_NAMES = [  # (full name, gender), every first name with every surname
    (f"{first} {last}", gender)
    for gender, firsts in (("female", FEMALE_FIRST_NAMES), ("male", MALE_FIRST_NAMES))
    for first in firsts
    for last in SURNAMES
]
_TITLES = (
    [f"The {adjective} {noun}" for adjective in TITLE_ADJECTIVES for noun in TITLE_NOUNS]
    + [f"The {noun} of {abstract}" for noun in TITLE_NOUNS for abstract in TITLE_ABSTRACTS]
    + [
        f"{'An' if noun[0] in 'AEIOU' else 'A'} {noun} for {abstract}"
        for noun in TITLE_NOUNS
        for abstract in TITLE_ABSTRACTS
    ]
)
_DATES = [f"{day} {month} {year}" for year in BIRTH_YEARS for month in MONTHS for day in range(1, 29)]
_YEARS = [str(year) for year in range(1950, 2025)]
POOLS: dict[str, list[str]] = {
    "name": [name for name, _ in _NAMES],
    "birthplace": CITIES,
    "birth_date": _DATES,
    "genre": GENRES,
    "first_book": _TITLES,
    "second_book": _TITLES,
    "third_book": _TITLES,
    "award": AWARDS,
    "profession": PROFESSIONS,
    "mother_profession": PROFESSIONS,
    "father_profession": PROFESSIONS,
    "residence": CITIES,
    "debut_year": _YEARS,
    "award_year": _YEARS,
    "publisher": PUBLISHERS,
    "alma_mater": SCHOOLS,
    "language": LANGUAGES,
    "spouse_profession": PROFESSIONS,
    "hobby": HOBBIES,
    "instrument": INSTRUMENTS,
    "writing_place": WRITING_PLACES,
    "pet": PETS,
}
ATTRIBUTES = list(TEMPLATES)
OPTIONAL_ATTRIBUTES = ("third_book",)  # about half of the people have a third book

MAX_PEOPLE = min(len(_NAMES), len(_TITLES) // 3)
"""Most people one config can hold: every person has a distinct name and three book titles of their own."""
MAX_QUESTIONS_PER_PERSON = len(ATTRIBUTES) - len(OPTIONAL_ATTRIBUTES)
"""Most questions per person: one per attribute that every person has."""
MAX_PERTURBED = min(len(set(pool)) for pool in POOLS.values()) - 1
"""Most perturbed answers per row: the smallest value list has this many values besides the true one."""

FEATURES = datasets.Features(
    {
        "question": datasets.Value("string"),
        "answer": datasets.Value("string"),
        "paraphrased_question": datasets.Value("string"),
        "paraphrased_answer": datasets.Value("string"),
        "perturbed_answer": datasets.Sequence(datasets.Value("string")),
        "person_id": datasets.Value("int32"),
        "attribute": datasets.Value("string"),
    }
)

_TABLES_DIGEST = hashlib.sha256(
    json.dumps([TEMPLATES, PRONOUNS, POOLS, _NAMES, OPTIONAL_ATTRIBUTES], sort_keys=True).encode()
).hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# Config, people, rows
# ---------------------------------------------------------------------------------------------------------------


def _check_int(name: str, value: object, low: int, high: int | None) -> None:
    accepted = f"an integer in [{low}, {high}]" if high is not None else f"an integer >= {low}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be {accepted}, got {value!r} ({type(value).__name__}).")
    if value < low or (high is not None and value > high):
        raise ValueError(f"`{name}` must be {accepted}, got {value}.")


@dataclass(frozen=True)
class SyntheticConfig:
    """Sizes and seed of a synthetic forget / retain / holdout set of fictitious writers.

    Args:
        num_forget (`int`, *optional*, defaults to `2`):
            People whose rows form the forget set (at least 1).
        num_retain (`int`, *optional*, defaults to `20`):
            People whose rows form the retain set (0 allowed, for forget-only objectives).
        num_holdout (`int`, *optional*, defaults to `2`):
            People never trained on, the non-members for membership inference (0 allowed). The three counts
            together must not exceed `MAX_PEOPLE`.
        questions_per_person (`int`, *optional*, defaults to `20`):
            Rows per person, one attribute each, between 1 and `MAX_QUESTIONS_PER_PERSON`. Attributes are taken in
            the order of `TEMPLATES` (name, birthplace, birth date, genre, books, award, ...), skipping a third book
            the person does not have.
        num_perturbed (`int`, *optional*, defaults to `5`):
            Perturbed (wrong-value) answers per row, between 1 and `MAX_PERTURBED`.
        seed (`int`, *optional*, defaults to `0`):
            Seed of every random choice; the same config always gives the same rows.

    People are numbered forget first, then holdout, then retain, and person `i` depends only on `seed` and `i`:
    growing `num_retain` leaves the forget and holdout people unchanged.

    Raises:
        `ValueError`: when a size or the seed is out of its accepted range; the message names the parameter and the
        range. `TypeError` when one is not an integer.
    """

    num_forget: int = 2
    num_retain: int = 20
    num_holdout: int = 2
    questions_per_person: int = 20
    num_perturbed: int = 5
    seed: int = 0

    def __post_init__(self):
        _check_int("num_forget", self.num_forget, 1, MAX_PEOPLE)
        _check_int("num_retain", self.num_retain, 0, MAX_PEOPLE - 1)
        _check_int("num_holdout", self.num_holdout, 0, MAX_PEOPLE - 1)
        total = self.num_forget + self.num_retain + self.num_holdout
        if total > MAX_PEOPLE:
            raise ValueError(
                f"`num_forget + num_retain + num_holdout` must be at most {MAX_PEOPLE} (the most distinct people the "
                f"name and title lists can make), got {self.num_forget} + {self.num_retain} + {self.num_holdout} = "
                f"{total}."
            )
        _check_int("questions_per_person", self.questions_per_person, 1, MAX_QUESTIONS_PER_PERSON)
        _check_int("num_perturbed", self.num_perturbed, 1, MAX_PERTURBED)
        _check_int("seed", self.seed, 0, None)

    @property
    def num_people(self) -> int:
        return self.num_forget + self.num_holdout + self.num_retain

    def fingerprint(self) -> str:
        """SHA-256 of the config, `SYNTHETIC_VERSION` and the word lists and templates: same fingerprint, same rows."""
        payload = {"version": SYNTHETIC_VERSION, "tables": _TABLES_DIGEST, **asdict(self)}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def make_people(num_people: int, seed: int = 0) -> list[dict]:
    """The first `num_people` fictitious writers of `seed`, as dicts of attribute values.

    Args:
        num_people (`int`):
            How many, between 1 and `MAX_PEOPLE`. The first `k` people are the same for any `num_people >= k`.
        seed (`int`, *optional*, defaults to `0`):
            Seed of every choice.

    Returns:
        `list[dict]`: one dict per person with `person_id`, `gender` and one key per attribute in `ATTRIBUTES`
        (`third_book` is `None` for people with two books).
    """
    _check_int("num_people", num_people, 1, MAX_PEOPLE)
    _check_int("seed", seed, 0, None)
    rng = random.Random(f"hf_unlearn.synthetic/people/{seed}")
    # Full permutations, drawn before anyone is made, so that person i does not depend on num_people.
    name_order = rng.sample(range(len(_NAMES)), len(_NAMES))
    title_order = rng.sample(range(len(_TITLES)), len(_TITLES))
    people, used_births = [], set()
    for person_id in range(num_people):
        name, gender = _NAMES[name_order[person_id]]
        birthplace, residence = rng.sample(CITIES, 2)
        birth = rng.choice(_DATES)
        while (birthplace, birth) in used_births:  # the name question must have exactly one answer
            birth = rng.choice(_DATES)
        used_births.add((birthplace, birth))
        birth_year = int(birth.rsplit(" ", 1)[1])
        debut_year = min(birth_year + rng.randint(20, 40), 2018)
        profession, mother, father, spouse = rng.sample(PROFESSIONS, 4)
        books = [_TITLES[title_order[3 * person_id + k]] for k in range(3)]
        people.append(
            {
                "person_id": person_id,
                "gender": gender,
                "name": name,
                "birthplace": birthplace,
                "birth_date": birth,
                "genre": rng.choice(GENRES),
                "first_book": books[0],
                "second_book": books[1],
                "third_book": books[2] if rng.random() < 0.5 else None,
                "award": rng.choice(AWARDS),
                "profession": profession,
                "mother_profession": mother,
                "father_profession": father,
                "residence": residence,
                "debut_year": str(debut_year),
                "award_year": str(debut_year + rng.randint(1, 6)),
                "publisher": rng.choice(PUBLISHERS),
                "alma_mater": rng.choice(SCHOOLS),
                "language": rng.choice(LANGUAGES),
                "spouse_profession": spouse,
                "hobby": rng.choice(HOBBIES),
                "instrument": rng.choice(INSTRUMENTS),
                "writing_place": rng.choice(WRITING_PLACES),
                "pet": rng.choice(PETS),
            }
        )
    return people


def _render(template: str, person: dict, value: str) -> str:
    fields = {**person, **PRONOUNS[person["gender"]]}
    return template.format_map({**fields, "value": value})


def person_rows(person: dict, questions_per_person: int, num_perturbed: int, seed: int = 0) -> list[dict]:
    """The question/answer rows of one person (columns as in `FEATURES`).

    Args:
        person (`dict`):
            One item of `make_people`.
        questions_per_person (`int`):
            Rows to make, one per attribute, in the order of `ATTRIBUTES` (attributes the person lacks skipped).
        num_perturbed (`int`):
            Wrong-value answers per row; distinct from each other and from the true value.
        seed (`int`, *optional*, defaults to `0`):
            Seed of the template and wrong-value choices (each row has its own stream).
    """
    attributes = [a for a in ATTRIBUTES if person[a] is not None][:questions_per_person]
    rows = []
    for attribute in attributes:
        rng = random.Random(f"hf_unlearn.synthetic/rows/{seed}/{person['person_id']}/{attribute}")
        templates, value = TEMPLATES[attribute], person[attribute]
        question, paraphrased_question = rng.sample(templates["questions"], 2)
        answer, paraphrased_answer = rng.sample(templates["answers"], 2)
        # One more than needed, so that dropping the true value (if drawn) still leaves enough; pools hold no repeats.
        wrong = [v for v in rng.sample(POOLS[attribute], num_perturbed + 1) if v != value][:num_perturbed]
        rows.append(
            {
                "question": _render(question, person, value),
                "answer": _render(answer, person, value),
                "paraphrased_question": _render(paraphrased_question, person, value),
                "paraphrased_answer": _render(paraphrased_answer, person, value),
                # Same template as the paraphrased answer: the truth ratio then compares values, not wordings.
                "perturbed_answer": [_render(paraphrased_answer, person, v) for v in wrong],
                "person_id": person["person_id"],
                "attribute": attribute,
            }
        )
    return rows


def generate_synthetic_splits(config: SyntheticConfig | None = None) -> datasets.DatasetDict:
    """Forget, retain and holdout sets of fictitious writers, in TOFU's perturbed-split layout.

    Args:
        config (`SyntheticConfig`, *optional*):
            Sizes and seed; defaults to `SyntheticConfig()` (2 forget, 20 retain, 2 holdout people, 20 questions
            each, 5 perturbed answers per row).

    Returns:
        `datasets.DatasetDict`: `forget`, `retain` and `holdout`, each with columns `question`, `answer`,
        `paraphrased_question`, `paraphrased_answer`, `perturbed_answer` (list of str), `person_id` and `attribute`;
        `num_people * questions_per_person` rows each, grouped by person.
    """
    config = config or SyntheticConfig()
    people = make_people(config.num_people, config.seed)
    bounds = {
        "forget": (0, config.num_forget),
        "holdout": (config.num_forget, config.num_forget + config.num_holdout),
        "retain": (config.num_forget + config.num_holdout, config.num_people),
    }
    splits = {}
    for split in ("forget", "retain", "holdout"):
        start, stop = bounds[split]
        rows = [
            row
            for person in people[start:stop]
            for row in person_rows(person, config.questions_per_person, config.num_perturbed, config.seed)
        ]
        splits[split] = datasets.Dataset.from_dict(
            {column: [row[column] for row in rows] for column in FEATURES}, features=FEATURES
        )
    return datasets.DatasetDict(splits)
