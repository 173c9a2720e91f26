-- A data change: the `_dml` suffix marks it as DML.
UPDATE t1 SET email = name || '@example.com' WHERE email = '';
