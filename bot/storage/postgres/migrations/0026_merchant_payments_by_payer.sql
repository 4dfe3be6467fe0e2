-- A person's history lists the voucher legs of their shop payments (history_store.py):
-- their payments are found by the payer, then each payment's voucher legs by its key.
CREATE INDEX merchant_payments_by_payer ON merchant_payments (payer_id);
