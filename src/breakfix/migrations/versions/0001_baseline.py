"""Baseline: every table breakfix had before migrations existed (store, scanner, annotation app, cycle).

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('breakfix_meta',
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('findings',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('run_id', sa.String(length=64), nullable=False),
    sa.Column('attempt_id', sa.String(length=64), nullable=True),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('severity', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('threat', sa.JSON(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('findings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_findings_run_id'), ['run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_findings_status'), ['status'], unique=False)

    op.create_table('runs',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('planned', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('attempts',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('run_id', sa.String(length=64), nullable=False),
    sa.Column('item_id', sa.String(length=64), nullable=False),
    sa.Column('attack', sa.String(length=200), nullable=False),
    sa.Column('converters', sa.String(length=500), nullable=False),
    sa.Column('target', sa.String(length=200), nullable=False),
    sa.Column('category', sa.String(length=200), nullable=True),
    sa.Column('language', sa.String(length=32), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('response_text', sa.Text(), nullable=False),
    sa.Column('latency_s', sa.Float(), nullable=False),
    sa.Column('prompt_tokens', sa.Integer(), nullable=True),
    sa.Column('completion_tokens', sa.Integer(), nullable=True),
    sa.Column('retries', sa.Integer(), nullable=False),
    sa.Column('target_calls', sa.Integer(), nullable=False),
    sa.Column('n_turns', sa.Integer(), nullable=False),
    sa.Column('success', sa.Boolean(), nullable=False),
    sa.Column('refused', sa.Boolean(), nullable=False),
    sa.Column('conversation', sa.JSON(), nullable=False),
    sa.Column('response', sa.JSON(), nullable=False),
    sa.Column('turns', sa.JSON(), nullable=False),
    sa.Column('converter_list', sa.JSON(), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('id')
    )
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.create_index('ix_attempts_run_attack_conv', ['run_id', 'attack', 'converters'], unique=False)
        batch_op.create_index('ix_attempts_run_latency', ['run_id', 'latency_s'], unique=False)
        batch_op.create_index('ix_attempts_run_seq', ['run_id', 'seq'], unique=False)

    op.create_table('items',
    sa.Column('run_id', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('prompt', sa.Text(), nullable=False),
    sa.Column('objective', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=200), nullable=False),
    sa.Column('language', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=50), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'id')
    )
    op.create_table('scores',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('attempt_id', sa.String(length=64), nullable=False),
    sa.Column('run_id', sa.String(length=64), nullable=False),
    sa.Column('scorer', sa.String(length=200), nullable=False),
    sa.Column('scorer_version', sa.String(length=100), nullable=False),
    sa.Column('label', sa.String(length=20), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('rationale', sa.Text(), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['attempt_id'], ['attempts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scores_attempt_id'), ['attempt_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scores_run_id'), ['run_id'], unique=False)

    op.create_table('scan_scans',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('model_path', sa.String(length=1000), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('verdict', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('scan_stages',
    sa.Column('scan_id', sa.String(length=64), nullable=False),
    sa.Column('stage', sa.String(length=32), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('cost', sa.JSON(), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['scan_id'], ['scan_scans.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('scan_id', 'stage')
    )
    op.create_table('annot_login_failures',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure', sa.Float(), nullable=False),
    sa.Column('locked_until', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('annot_settings',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('annot_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('password_hash', sa.String(length=128), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('annot_invites',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['annot_users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_hash')
    )
    op.create_table('annot_projects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('rubric', sa.JSON(), nullable=False),
    sa.Column('source', sa.String(length=512), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['annot_users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('annot_sessions',
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['annot_users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id_hash')
    )
    op.create_table('annot_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=128), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=128), nullable=False),
    sa.Column('conversation', sa.JSON(), nullable=False),
    sa.Column('response', sa.Text(), nullable=False),
    sa.Column('meta', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['annot_projects.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('project_id', 'external_id')
    )
    with op.batch_alter_table('annot_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_annot_items_project_id'), ['project_id'], unique=False)

    op.create_table('annot_adjudications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('values', sa.JSON(), nullable=False),
    sa.Column('rationale', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['annot_items.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['annot_projects.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['annot_users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('item_id')
    )
    with op.batch_alter_table('annot_adjudications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_annot_adjudications_project_id'), ['project_id'], unique=False)

    op.create_table('annot_assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['annot_items.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['annot_projects.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['annot_users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('item_id', 'user_id')
    )
    with op.batch_alter_table('annot_assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_annot_assignments_item_id'), ['item_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_annot_assignments_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_annot_assignments_user_id'), ['user_id'], unique=False)

    op.create_table('annot_drafts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('values', sa.JSON(), nullable=False),
    sa.Column('rationale', sa.Text(), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['annot_items.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['annot_projects.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['annot_users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('item_id', 'user_id')
    )
    with op.batch_alter_table('annot_drafts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_annot_drafts_item_id'), ['item_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_annot_drafts_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_annot_drafts_user_id'), ['user_id'], unique=False)

    op.create_table('annot_labels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('values', sa.JSON(), nullable=False),
    sa.Column('rationale', sa.Text(), nullable=False),
    sa.Column('revisions', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['annot_items.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['annot_projects.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['annot_users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('item_id', 'user_id')
    )
    with op.batch_alter_table('annot_labels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_annot_labels_item_id'), ['item_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_annot_labels_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_annot_labels_user_id'), ['user_id'], unique=False)

    op.create_table('cycle_cycles',
    sa.Column('id', sa.String(length=80), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('model_path', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=30), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('cycle_rounds',
    sa.Column('cycle_id', sa.String(length=80), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('checkpoint', sa.Text(), nullable=False),
    sa.Column('trained_checkpoint', sa.Text(), nullable=True),
    sa.Column('dataset_version', sa.String(length=64), nullable=True),
    sa.Column('dataset', sa.JSON(), nullable=True),
    sa.Column('hyperparams', sa.JSON(), nullable=True),
    sa.Column('train_stats', sa.JSON(), nullable=True),
    sa.Column('metrics', sa.JSON(), nullable=True),
    sa.Column('status', sa.String(length=30), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('cycle_id', 'round')
    )
    op.create_table('cycle_steps',
    sa.Column('cycle_id', sa.String(length=80), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('step', sa.String(length=20), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('cycle_id', 'round', 'step')
    )
    # ### end Alembic commands ###


def downgrade() -> None:
    op.drop_table('cycle_steps')
    op.drop_table('cycle_rounds')
    op.drop_table('cycle_cycles')
    with op.batch_alter_table('annot_labels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_annot_labels_user_id'))
        batch_op.drop_index(batch_op.f('ix_annot_labels_project_id'))
        batch_op.drop_index(batch_op.f('ix_annot_labels_item_id'))

    op.drop_table('annot_labels')
    with op.batch_alter_table('annot_drafts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_annot_drafts_user_id'))
        batch_op.drop_index(batch_op.f('ix_annot_drafts_project_id'))
        batch_op.drop_index(batch_op.f('ix_annot_drafts_item_id'))

    op.drop_table('annot_drafts')
    with op.batch_alter_table('annot_assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_annot_assignments_user_id'))
        batch_op.drop_index(batch_op.f('ix_annot_assignments_project_id'))
        batch_op.drop_index(batch_op.f('ix_annot_assignments_item_id'))

    op.drop_table('annot_assignments')
    with op.batch_alter_table('annot_adjudications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_annot_adjudications_project_id'))

    op.drop_table('annot_adjudications')
    with op.batch_alter_table('annot_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_annot_items_project_id'))

    op.drop_table('annot_items')
    op.drop_table('annot_sessions')
    op.drop_table('annot_projects')
    op.drop_table('annot_invites')
    op.drop_table('annot_users')
    op.drop_table('annot_settings')
    op.drop_table('annot_login_failures')
    op.drop_table('scan_stages')
    op.drop_table('scan_scans')
    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scores_run_id'))
        batch_op.drop_index(batch_op.f('ix_scores_attempt_id'))

    op.drop_table('scores')
    op.drop_table('items')
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_attempts_run_seq')
        batch_op.drop_index('ix_attempts_run_latency')
        batch_op.drop_index('ix_attempts_run_attack_conv')

    op.drop_table('attempts')
    op.drop_table('runs')
    with op.batch_alter_table('findings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_findings_status'))
        batch_op.drop_index(batch_op.f('ix_findings_run_id'))

    op.drop_table('findings')
    op.drop_table('breakfix_meta')
    # ### end Alembic commands ###
