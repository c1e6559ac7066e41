-- Clocks that order writers (pipeline/store.py serialize): each load takes the next `load` value as
-- its load_seq. On DuckLake two transactions that take the same clock conflict on its one row and the
-- later one is retried, so values commit in order and the models' watermarks never skip a load.
create table store_clock (
    name  varchar primary key,
    value bigint not null
);
insert into store_clock select 'load', coalesce(max(load_seq), 0) from articles;
insert into store_clock values ('search', 0), ('models', 0);
-- The snapshot an alert was raised from (DuckLake; null on a DuckDB file): `newsmon alerts show ID
-- --as-of` opens the lake as it was then.
alter table alerts add column snapshot_id bigint;
