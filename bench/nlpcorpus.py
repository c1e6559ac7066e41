"""Article texts for bench/nlp.py: realistic length (~900 tokens) and a realistic share of topic sentences.

Topic sentences come from the gold set; the rest are ordinary news sentences written for this
benchmark (economy, weather, culture, sport, local politics) that mention none of the tracked topics.
"""
from __future__ import annotations

import random

FILLER = [
    "The central bank left interest rates unchanged on Thursday, citing stubborn inflation in services.",
    "Heavy rain flooded several streets in the city centre overnight, and two bridges were closed to traffic.",
    "The ministry said the new rail line would open to passengers in the second half of next year.",
    "Shares in the carmaker fell sharply after it cut its profit forecast for the third time this year.",
    "Officials said the hospital had cleared most of the backlog of routine operations built up in the winter.",
    "The festival drew more than forty thousand visitors over the weekend, organisers said.",
    "Teachers in the capital will strike next week unless the government improves its pay offer.",
    "A spokesperson for the airport said flights were running normally again after the power cut.",
    "The opposition accused the government of wasting money on consultants during the pandemic.",
    "Prices of fresh vegetables rose by nearly ten percent in January because of the cold weather.",
    "The company plans to hire two thousand engineers over the next three years.",
    "Police said the suspect had been released on bail pending further inquiries.",
    "The museum will reopen in the spring after a two-year renovation of its main hall.",
    "Farmers blocked roads near the border for a second day in protest at cheap imports.",
    "The report found that one in five households struggled to pay their energy bills last winter.",
    "The home side scored twice in the last ten minutes to win the match.",
    "Analysts expect the economy to grow by about one percent this year, slower than previously forecast.",
    "The city council approved a plan to plant ten thousand trees along the river.",
    "Rescue teams searched through the night for hikers missing in the mountains.",
    "The minister said the reform would cut waiting times for passports by half.",
    "Electricity demand hit a record high during the cold snap, the grid operator said.",
    "The new stadium will hold sixty thousand spectators when it is finished.",
    "Unemployment fell to its lowest level in a decade, according to official figures.",
    "The court adjourned the hearing until next month to give the defence more time.",
    "Several schools were closed after a gas leak was discovered in the district.",
    "The airline said it would add new routes to southern Europe for the summer season.",
    "Researchers said the vaccine had shown promising results in an early trial.",
    "Tourism revenue recovered to pre-pandemic levels last year, the statistics office said.",
    "The mayor promised to build more affordable housing on former industrial land.",
    "A fire destroyed a warehouse on the edge of the town, but no one was injured.",
    "The orchestra announced a new season of concerts featuring young composers.",
    "Fuel prices have fallen for three weeks in a row, motoring groups said.",
    "The parliament debated a bill that would raise the retirement age by two years.",
    "Exports of grain through the port rose in the last quarter despite the difficult conditions.",
    "The bank said it would close forty branches as more customers move online.",
    "Doctors warned that the flu season was arriving earlier than usual this year.",
    "The team's coach said his players were tired after a long run of away games.",
    "Construction of the new bridge is running two years behind schedule.",
    "The government announced extra funding for mental health services in rural areas.",
    "Snow is expected in the north of the country over the weekend, forecasters said.",
    "The author's new novel has already been translated into twelve languages.",
    "Retail sales were weaker than expected in December as shoppers cut back on spending.",
    "The prosecutor said the investigation into the contracts would take several months.",
    "A new law requires large companies to report their carbon emissions every year.",
    "The river burst its banks after days of rain, forcing hundreds of people from their homes.",
    "Officials said the census would be carried out online for the first time.",
    "The price of gold reached a new record as investors looked for safe assets.",
    "Thousands of people attended the funeral of the popular singer on Saturday.",
    "The university said it would freeze tuition fees for another year.",
    "The trade deficit narrowed in the third quarter as imports of fuel fell.",
    "Volunteers collected more than two tonnes of litter from the beaches.",
    "The regional governor resigned after a row over spending on official cars.",
    "The telecoms regulator fined the operator for repeated outages last year.",
    "Local elections will be held in May, the electoral commission confirmed.",
    "The factory will switch to electric furnaces by the end of the decade.",
    "Passenger numbers on the metro fell during the strike but recovered quickly.",
    "The film won the main prize at the festival on Sunday night.",
    "The ministry of health said the number of new cases had fallen for a fourth week.",
    "Investors welcomed the results, sending the shares up by six percent.",
    "Workers at the plant voted to accept a new pay deal after months of talks.",
]


def build_articles(gold_topic_sentences: list[str], n: int, seed: int = 7, words: int = 900,
                   topic_share: float = 0.1) -> list[str]:
    """`n` article texts of about `words` words, with about `topic_share` of their sentences on topic."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        sents: list[str] = []
        count = 0
        while count < words:
            pool = gold_topic_sentences if rnd.random() < topic_share else FILLER
            s = rnd.choice(pool)
            sents.append(s)
            count += len(s.split())
        paras = [" ".join(sents[i:i + 4]) for i in range(0, len(sents), 4)]
        out.append("\n".join(paras))
    return out
